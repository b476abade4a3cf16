# Deferred functions the parser cannot resolve: every one is reported, sorted.
file { '/etc/db.conf':
  ensure  => file,
  content => Deferred('vault_lookup', ['secret/db']),
}
notify { 'nested':
  message => { 'token' => Deferred('join', [[Deferred('hiera_vault', ['x'])], '']) },
}
notify { 'ok': message => Deferred('upcase', ['fine']) }
notify { 'badargs': message => Deferred('join', ['not an array']) }
