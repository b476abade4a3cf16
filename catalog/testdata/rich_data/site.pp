# Rich data: Sensitive at top level and nested, default, hashes with non-string keys,
# the scalar rich types, type values and resource references.
file { '/etc/secret':
  ensure  => file,
  content => Sensitive("top secret\n"),
}
notify { 'nested':
  message => {
    'password' => Sensitive('s3cret'),
    'list'     => [Sensitive('x'), 1, -2, 1.5, 9223372036854775807, true, undef],
    'default'  => default,
    1          => 'one',
    [1, 2]     => 'pair',
    '__ptype'  => 'looks like rich data',
  },
}
notify { 'sensitive_hash': message => Sensitive({ 'a' => 1, 2 => 'b' }) }
notify { 'scalars':
  message => [
    Timestamp('2020-01-02T03:04:05Z'),
    Timespan(3600),
    SemVer('1.2.3'),
    SemVerRange('>=1.0.0 <2.0.0'),
    /ab+c/,
    Binary('aGVsbG8='),
    URI('http://example.org/x'),
  ],
}
notify { 'types': message => [Integer[1, 2], String, Enum['a', 'b'], Type[File]] }
notify { 'refs':
  message => File['/etc/secret'],
  require => [File['/etc/secret'], Notify['nested']],
  before  => Notify['scalars'],
}
