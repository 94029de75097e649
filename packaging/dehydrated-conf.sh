# dehydrated settings for alpn-responder: copy to /etc/dehydrated/conf.d/alpn-responder.sh
CHALLENGETYPE="tls-alpn-01"
HOOK="/usr/share/alpn-responder/dehydrated-hook.sh"
HOOK_CHAIN="yes"   # optional: all names of a certificate in one hook call and one control connection
