file { "/tmp/ld/x": content => "a\n" } notify { "hi": }
