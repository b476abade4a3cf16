# A plain catalog: files with numbers and modes, relationships in arrays, a class, a
# defined type. Compiled at log level notice: stdout starts with the Notice line.
class web($port = 8080, $workers = 4) {
  file { '/srv/www':
    ensure => directory,
    mode   => '0755',
  }
  file { '/srv/www/index.html':
    ensure  => file,
    content => "port ${port}\n",
    mode    => '0644',
    owner   => 0,
    require => [File['/srv/www'], Package['nginx']],
  }
}
define site::vhost($port, $aliases = []) {
  file { "/etc/vhosts/${title}.conf":
    ensure  => file,
    content => "${port} ${aliases}\n",
    before  => Service['nginx'],
  }
}
package { 'nginx': ensure => installed }
service { 'nginx':
  ensure    => running,
  enable    => true,
  subscribe => [File['/srv/www/index.html'], Package['nginx']],
}
exec { 'reload':
  command     => '/bin/true',
  refreshonly => true,
  timeout     => 30,
  returns     => [0, 2],
  tries       => 1.5,
}
include web
site::vhost { 'example.org': port => 443, aliases => ['www.example.org'] }
notify { '42': }
