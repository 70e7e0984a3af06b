#!/usr/bin/env node
// contrib/jwt/mint.js -- mint a token for wspubsub with Node's crypto
// module alone: HS256 from a secret, RS256 or ES256 from a private key.
//
// Usage: node mint.js [--secret-file FILE | --rs256 KEY.pem | --es256 KEY.pem]
//                     [--aud AUD] [--iss ISS] SUB LIFETIME
// HS256 takes the bytes of FILE less trailing CR/LF (as wspubsub reads
// jwt_secret_file), or $JWT_SECRET.  As a module:
// require('./mint.js').mint({ alg, key, sub, lifetime, aud, iss }).
'use strict';
const crypto = require('crypto');
const fs = require('fs');

// The server's user name rules.
const USER_NAME = /^[A-Za-z0-9_.@:-]{1,128}$/;

const b64url = (buf) => Buffer.from(buf).toString('base64url');

function mint({ alg = 'HS256', key, sub, lifetime, aud, iss, now }) {
	if (!USER_NAME.test(sub))
		throw new Error('sub is not a valid user name');
	now = now ?? Math.floor(Date.now() / 1000);
	const claims = { sub, iat: now, exp: now + lifetime };
	if (aud !== undefined)
		claims.aud = aud;
	if (iss !== undefined)
		claims.iss = iss;
	const input = b64url(JSON.stringify({ alg, typ: 'JWT' })) + '.' +
	    b64url(JSON.stringify(claims));
	let sig;
	switch (alg) {
	case 'HS256':
		if (!key || key.length === 0)
			throw new Error('empty secret');
		sig = crypto.createHmac('sha256', key).update(input).digest();
		break;
	case 'RS256':	// PKCS#1 v1.5, the default for RSA keys
		sig = crypto.sign('sha256', Buffer.from(input), key);
		break;
	case 'ES256':	// JWS wants R || S, not DER
		sig = crypto.sign('sha256', Buffer.from(input),
		    { key, dsaEncoding: 'ieee-p1363' });
		break;
	default:
		throw new Error('alg must be HS256, RS256 or ES256');
	}
	return input + '.' + b64url(sig);
}

// wspubsub drops trailing newlines from jwt_secret_file; so do we.
function readSecret(path) {
	const b = fs.readFileSync(path);
	let n = b.length;
	while (n > 0 && (b[n - 1] === 0x0a || b[n - 1] === 0x0d))
		n--;
	return b.subarray(0, n);
}

function main(argv) {
	const usage = 'usage: node mint.js [--secret-file FILE | ' +
	    '--rs256 KEY.pem | --es256 KEY.pem] [--aud AUD] [--iss ISS] ' +
	    'SUB LIFETIME';
	const o = { alg: 'HS256' }, rest = [];
	for (let i = 0; i < argv.length; i++) {
		const a = argv[i], v = argv[i + 1];
		if (['--secret-file', '--rs256', '--es256', '--aud',
		    '--iss'].includes(a)) {
			if (v === undefined)
				throw new Error(usage);
			i++;
			if (a === '--secret-file')
				o.key = readSecret(v);
			else if (a === '--rs256' || a === '--es256') {
				o.alg = a === '--rs256' ? 'RS256' : 'ES256';
				o.key = crypto.createPrivateKey(
				    fs.readFileSync(v));
			} else
				o[a.slice(2)] = v;
		} else if (a.startsWith('--'))
			throw new Error(usage);
		else
			rest.push(a);
	}
	if (rest.length !== 2 || !/^[0-9]+$/.test(rest[1]))
		throw new Error(usage);
	if (o.alg === 'HS256' && o.key === undefined) {
		if (!process.env.JWT_SECRET)
			throw new Error('no --secret-file and no $JWT_SECRET');
		o.key = Buffer.from(process.env.JWT_SECRET);
	}
	if (o.alg === 'ES256' && o.key.asymmetricKeyDetails.namedCurve !==
	    'prime256v1')
		throw new Error('ES256 needs a P-256 key');
	console.log(mint({ ...o, sub: rest[0], lifetime: Number(rest[1]) }));
}

module.exports = { mint };

if (require.main === module) {
	try {
		main(process.argv.slice(2));
	} catch (e) {
		console.error('mint.js: ' + e.message);
		process.exit(1);
	}
}
