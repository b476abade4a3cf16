// Package filecache remembers which files were read and found to hold the content a
// catalog wants, so that a later run can trust such a file without reading it again:
// the quick check rsync makes by default, and git's index.
//
// An entry ties one inode (device and inode number) in one state (size, mtime and
// ctime to the nanosecond) to a digest of the content it was read to hold. Nothing
// changes a file's bytes without setting its ctime to the current time (write,
// truncate, a write through a shared mapping after writeback, utimensat; a rename
// puts another inode there), so a file whose lstat still gives the recorded state
// holds the recorded content. Two rules keep that sound:
//
//   - an entry is recorded only for a file whose ctime was at least MinAge old
//     when it was examined, so that a write in the same clock tick as the last
//     change, which leaves ctime as it was, cannot follow unseen;
//   - only file systems that keep ctime that way are trusted (ext2/3/4, XFS,
//     Btrfs, tmpfs, F2FS, ZFS): not NFS, FUSE, FAT or overlayfs.
//
// What is left is what rsync and git leave: a program that writes the file through
// a shared mapping whose page is still dirty from a write made before the file was
// read, or a clock set back to the nanosecond of an earlier change. A run that
// must read every file, as Puppet does, opens no cache.
//
// The cache file is written to a temporary file and renamed over the old one, with
// a SHA-256 of its body at its end: a torn or foreign file is ignored whole, and
// every file is read again. It must belong to the user reading it and be writable
// by no one else.
package filecache
