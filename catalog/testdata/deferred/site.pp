# Deferred values the parser resolves: pure functions, nested, and env.
notify { 'sprintf': message => Deferred('sprintf', ['%s-%d-%05.2f-%x-%o-%%-%-4s|', 'a', 42, 3.14159, 255, 8, 'ab']) }
notify { 'nested': message => Deferred('join', [[Deferred('upcase', ['a']), 'b', ['c', 1]], ',']) }
notify { 'split': message => Deferred('split', ['a,b,,c,,', ',']) }
notify { 'case':
  message => [
    Deferred('upcase', [['x', { 'k' => 'v' }]]),
    Deferred('downcase', ['ÀBC']),
    Deferred('capitalize', ['hELLO wORLD']),
  ],
}
notify { 'strip':
  message => [
    Deferred('strip', ["  a b \n"]),
    Deferred('lstrip', ['  a ']),
    Deferred('rstrip', ['  a ']),
    Deferred('chomp', ["line\r\n"]),
  ],
}
notify { 'sizes':
  message => [
    Deferred('size', [[1, 2, 3]]),
    Deferred('length', ['héllo']),
    Deferred('keys', [{ 'b' => 1, 'a' => 2 }]),
    Deferred('values', [{ 'b' => 1, 'a' => 2 }]),
  ],
}
notify { 'env': message => Deferred('env', ['MGMT_PUPPET_CATALOG_TEST']) }
file { '/etc/token':
  ensure  => file,
  content => Sensitive(Deferred('join', [['token', Deferred('env', ['MGMT_PUPPET_CATALOG_TEST'])], '='])),
}
