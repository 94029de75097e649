# dehydrated settings for alpn-responder: copy to /etc/dehydrated/conf.d/alpn-responder.sh
CHALLENGETYPE="tls-alpn-01"
HOOK="/usr/share/alpn-responder/dehydrated-hook.sh"
# optional: all names of a certificate in one hook call (one control connection with the nc/socat transports; the
# CLI transport, the hook's default when alpn-responder is installed, opens one per name)
HOOK_CHAIN="yes"
