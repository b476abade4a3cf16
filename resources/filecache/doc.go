// Package filecache remembers which files were read and found to hold the content a
// catalog wants, so that a later run can trust such a file without reading it again:
// the quick check rsync makes by default, and git's index.
//
// An entry ties one inode (device and inode number) in one state (size, mtime and
// ctime as lstat gives them, to the nanosecond where the file system keeps it) to a
// digest of the content it was read to hold. Nothing changes a file's bytes without
// setting its ctime to the current time (write and truncate when they begin, a
// write through a shared mapping when it first dirties a page; a rename puts
// another inode there), so a file whose lstat still gives the recorded state holds
// the recorded content, if
//
//   - its ctime was at least MinAge old when it was examined, so that a write in
//     the same clock tick as the change before it, which leaves ctime as it was,
//     cannot follow unseen;
//   - no process had it open for writing, or mapped shared and writable, when it
//     was opened to be read (a read lease could be taken): a write that began
//     earlier set ctime at its start and may still be copying its bytes;
//   - the descriptor read is the inode lstat found;
//   - its file system keeps ctime so (ext2/3/4, XFS, Btrfs, tmpfs, F2FS, ZFS), not
//     NFS, FUSE, FAT or overlayfs;
//   - the system has not booted since: a crash may leave a new ctime on disk
//     without the data written with it, and device numbers are given anew.
//
// What is left is what rsync and git leave too: writes that bypass the file system
// (to its block device), and a clock set back to the nanosecond of an earlier
// change. A run that must read every file, as Puppet does, opens no cache.
//
// The cache file is replaced as managed files are (atomicfile: durable before it
// is renamed over the old one), and ends with a SHA-256 of its body: a torn or
// foreign file is ignored whole, and every file is read again. It must be a
// regular file that belongs to the user reading it and that no one else may write.
package filecache
