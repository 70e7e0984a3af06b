#!/bin/sh
# contrib/jwt/mint.sh -- mint a token for wspubsub with POSIX sh and the
# openssl command: HS256 from a secret, RS256 or ES256 from a private key.
#
# Usage: mint.sh [options] SUB LIFETIME
#   SUB         the user name (1-128 of A-Z a-z 0-9 _ . @ : -)
#   LIFETIME    seconds until the token expires
#   -s FILE     HS256 with the secret in FILE (less trailing CR/LF, as
#               wspubsub reads jwt_secret_file);
#               without -s, -k or -e the secret comes from $JWT_SECRET
#   -k FILE     RS256 with the RSA private key PEM in FILE
#   -e FILE     ES256 with the P-256 private key PEM in FILE
#   -a AUD      add an aud claim       -i ISS   add an iss claim
#
# The HMAC is computed here from two SHA-256 passes (RFC 2104) so that the
# secret is never put on a command line, where other users could see it.
set -eu

usage() {
	echo "usage: mint.sh [-s secretfile | -k rsa.pem | -e ec.pem]" \
	    "[-a aud] [-i iss] sub lifetime" >&2
	exit 2
}
die() { echo "mint.sh: $*" >&2; exit 1; }

alg=HS256 keyfile= secretfile= aud= iss=
while getopts s:k:e:a:i: opt; do
	case $opt in
	s) alg=HS256 secretfile=$OPTARG ;;
	k) alg=RS256 keyfile=$OPTARG ;;
	e) alg=ES256 keyfile=$OPTARG ;;
	a) aud=$OPTARG ;;
	i) iss=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -eq 2 ] || usage
sub=$1 lifetime=$2

# The server's user name rules; they also make JSON escaping unneeded.
case $sub in
''|*[!A-Za-z0-9_.@:-]*) die "sub \"$sub\" is not a valid user name" ;;
esac
[ ${#sub} -le 128 ] || die "sub longer than 128 bytes"
case $lifetime in
''|*[!0-9]*) die "lifetime must be a number of seconds" ;;
esac
for v in "$aud" "$iss"; do
	case $v in
	*[\"\\]*|*[[:cntrl:]]*) die "aud and iss may not hold \" \\ or controls" ;;
	esac
done

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

# Hex digits on stdin (any spacing) to bytes on stdout.
unhex() {
	fmt=
	for h in $(tr -d ' \n' | sed 's/../& /g'); do
		fmt="$fmt\\$(printf '%03o' "0x$h")"
	done
	printf "$fmt"
}

# HMAC-SHA256 of stdin with the key in hex ($1), binary on stdout.
hmac_sha256() {
	key=$1
	if [ ${#key} -gt 128 ]; then	# keys over 64 bytes are hashed first
		key=$(printf '%s' "$key" | unhex | openssl dgst -sha256 -binary |
		    od -An -v -tx1 | tr -d ' \n')
	fi
	# The key, zero-padded to the 64-byte block, XORed with each pad.
	ipad= opad= n=0
	for b in $(printf '%s' "$key" | sed 's/../& /g'); do
		ipad="$ipad\\$(printf '%03o' $((0x$b ^ 0x36)))"
		opad="$opad\\$(printf '%03o' $((0x$b ^ 0x5c)))"
		n=$((n + 1))
	done
	while [ $n -lt 64 ]; do
		ipad="$ipad\\066" opad="$opad\\134" n=$((n + 1))
	done
	{ printf "$opad"; { printf "$ipad"; cat; } |
	    openssl dgst -sha256 -binary; } | openssl dgst -sha256 -binary
}

now=$(date +%s)
header="{\"alg\":\"$alg\",\"typ\":\"JWT\"}"
payload="{\"sub\":\"$sub\",\"iat\":$now,\"exp\":$((now + lifetime))"
[ -z "$aud" ] || payload="$payload,\"aud\":\"$aud\""
[ -z "$iss" ] || payload="$payload,\"iss\":\"$iss\""
payload="$payload}"
input="$(printf '%s' "$header" | b64url).$(printf '%s' "$payload" | b64url)"

case $alg in
HS256)
	if [ -n "$secretfile" ]; then
		[ -r "$secretfile" ] || die "cannot read $secretfile"
		keyhex=$(od -An -v -tx1 < "$secretfile" | tr -d ' \n')
		# wspubsub drops trailing newlines from jwt_secret_file.
		while :; do
			case $keyhex in
			*0a|*0d) keyhex=${keyhex%??} ;;
			*) break ;;
			esac
		done
	else
		[ -n "${JWT_SECRET:-}" ] || die "no -s FILE and no \$JWT_SECRET"
		keyhex=$(printf '%s' "$JWT_SECRET" | od -An -v -tx1 |
		    tr -d ' \n')
	fi
	[ -n "$keyhex" ] || die "empty secret"
	sig=$(printf '%s' "$input" | hmac_sha256 "$keyhex" | b64url)
	;;
RS256)
	sig=$(printf '%s' "$input" |
	    openssl dgst -sha256 -sign "$keyfile" -binary | b64url)
	;;
ES256)
	# openssl signs in DER; JWS wants R || S, 32 bytes each.
	rs=$(printf '%s' "$input" |
	    openssl dgst -sha256 -sign "$keyfile" -binary |
	    openssl asn1parse -inform DER |
	    sed -n 's/.*INTEGER *://p')
	raw=
	for x in $rs; do
		while [ ${#x} -lt 64 ]; do x=0$x; done
		[ ${#x} -eq 64 ] || die "$keyfile is not a P-256 key"
		raw=$raw$x
	done
	[ ${#raw} -eq 128 ] || die "cannot read the ECDSA signature"
	sig=$(printf '%s' "$raw" | unhex | b64url)
	;;
esac
[ -n "$sig" ] || die "signing failed"
printf '%s.%s\n' "$input" "$sig"
