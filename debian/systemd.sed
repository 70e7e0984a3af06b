# debian/systemd.sed -- makes the packaged units from contrib/systemd/ at
# build time (debian/rules), so both keep the same settings.  The Exec
# lines run /usr/sbin/wspubsub, and wspubsub-inetd@.service runs as the
# user the package creates: the packaged configuration sets "user
# wspubsub", which wspubsub accepts when it already runs as that user,
# and DynamicUser= would be someone else.  debian/rules checks that each
# change took.

1i\
# Installed by the Debian package wspubsub from contrib/systemd/; its\
# Exec lines run /usr/sbin/wspubsub.  The package has created the user\
# wspubsub, which /etc/wspubsub/wspubsub.conf names.

s|^\(Exec[A-Za-z]*=\)/usr/local/sbin/wspubsub|\1/usr/sbin/wspubsub|

/^# Run unprivileged from the start/,/^DynamicUser=yes$/c\
# Run unprivileged from the start, as the user the package created:\
# nothing to bind, and the configuration's "user wspubsub" then holds\
# already.  The configuration must not set chroot.\
User=wspubsub\
Group=wspubsub
