# debian/wspubsub.conf.sed -- makes /etc/wspubsub/wspubsub.conf from the
# bundled wspubsub.conf at build time (debian/rules), so both keep the
# same keys and comments.  Three changes: a header saying where the file
# comes from, "user wspubsub" (the user the package creates) and
# "log_target syslog".  debian/rules checks that each one took.

1,/^$/c\
# /etc/wspubsub/wspubsub.conf -- as installed by the Debian package: the\
# bundled configuration, run as the user "wspubsub" (which the package\
# creates) and logging to syslog.  One "key value" per line; "#" starts a\
# comment.  A commented key shows its default.  It listens on\
# 127.0.0.1:8765 with Redis at 127.0.0.1:6379, without TLS and without\
# authentication: nothing is exposed until you change "listen".  Durations\
# take s (the default unit), ms or m; sizes take k or m; paths are\
# absolute.  See wspubsub.conf(5).  Check the file with\
# "wspubsub -t -f /etc/wspubsub/wspubsub.conf"; "systemctl reload\
# wspubsub" applies it.  An edited file is kept on upgrade and on\
# "apt remove", and deleted by "apt purge".\

s/^#user wspubsub$/user wspubsub/
s/^#log_target stderr$/log_target syslog/
