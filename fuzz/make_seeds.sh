#!/usr/bin/env bash
# Writes the seed corpora under fuzz/seeds/<target>/ (tiny files, committed).
# Byte-oriented targets read a few settings bytes first (see each target's
# doc comment), then the wire bytes. Run from anywhere; rewrites the seeds.
set -euo pipefail
cd "$(dirname "$0")/seeds"

seed() { # seed TARGET NAME PRINTF-FORMAT...
    local target=$1 name=$2
    shift 2
    mkdir -p "$target"
    # shellcheck disable=SC2059
    printf "$@" >"$target/$name"
}

# frame_decoder: [flags, max_lo, max_hi, chunk_seed] + frames (RFC 6455 §5.7 examples).
# flags: bit 0 server, bit 1 accept unmasked, bit 2 allow RSV bits (flags & 0x70).
seed frame_decoder hello_unmasked '\x00\xff\xff\x03\x81\x05\x48\x65\x6c\x6c\x6f'
seed frame_decoder hello_masked '\x01\xff\xff\x00\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58'
seed frame_decoder hello_fragmented '\x00\xff\xff\x02\x01\x03\x48\x65\x6c\x80\x02\x6c\x6f'
seed frame_decoder ping_unmasked '\x00\xff\xff\x05\x89\x05\x48\x65\x6c\x6c\x6f'
seed frame_decoder pong_masked '\x01\xff\xff\x01\x8a\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58'
seed frame_decoder close_1000 '\x00\xff\xff\xff\x88\x02\x03\xe8'
seed frame_decoder binary_256 "\\x00\\xff\\xff\\x11\\x82\\x7e\\x01\\x00%0256d" 0
seed frame_decoder binary_64k_header '\x00\xff\xff\x04\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00'
seed frame_decoder deflated_hello_rsv1 '\x44\xff\xff\x03\xc1\x07\xf2\x48\xcd\xc9\xc9\x07\x00'
seed frame_decoder unmasked_to_lenient_server '\x03\xff\xff\x03\x81\x05\x48\x65\x6c\x6c\x6f\x89\x00'
seed frame_decoder too_large '\x00\x04\x00\x03\x82\x05\x48\x65\x6c\x6c\x6f'

# Handshake settings: [limit_lo, limit_hi (4096), max_headers (32), chunk_seed, flags].
RFC_KEY='dGhlIHNhbXBsZSBub25jZQ=='
RFC_ACCEPT='s3pPLMBiTxaQ9kYGzzhZRbK+xOo='
RFC_REQUEST="GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: $RFC_KEY\r\nOrigin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n"
seed server_handshake rfc_example "\\x00\\x10\\x20\\x07\\x04$RFC_REQUEST"
seed server_handshake rfc_example_early_data "\\x00\\x10\\x20\\x05\\x01$RFC_REQUEST\\x81\\x85\\x37\\xfa\\x21\\x3d\\x7f\\x9f\\x4d\\x51\\x58"
seed server_handshake chrome "\\x00\\x10\\x20\\x09\\x00GET /chat HTTP/1.1\r\nHost: example.com:8080\r\nConnection: Upgrade\r\nPragma: no-cache\r\nCache-Control: no-cache\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36\r\nUpgrade: websocket\r\nOrigin: http://example.com\r\nSec-WebSocket-Version: 13\r\nAccept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US,en;q=0.9\r\nSec-WebSocket-Key: $RFC_KEY\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
seed server_handshake firefox "\\x00\\x10\\x20\\x0b\\x00GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0\r\nAccept: */*\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\nSec-WebSocket-Version: 13\r\nOrigin: https://example.com\r\nSec-WebSocket-Extensions: permessage-deflate\r\nSec-WebSocket-Key: $RFC_KEY\r\nConnection: keep-alive, Upgrade\r\nSec-Fetch-Dest: websocket\r\nSec-Fetch-Mode: websocket\r\nSec-Fetch-Site: same-origin\r\nPragma: no-cache\r\nCache-Control: no-cache\r\nUpgrade: websocket\r\n\r\n"
seed server_handshake python_websockets "\\x00\\x10\\x20\\x0d\\x00GET /chat HTTP/1.1\r\nHost: localhost:8765\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: $RFC_KEY\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nUser-Agent: Python/3.12 websockets/12.0\r\n\r\n"
seed server_handshake curl "\\x00\\x10\\x20\\xff\\x02GET /chat HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: $RFC_KEY\r\nConnection: Upgrade\r\n\r\n"
seed server_handshake absolute_form "\\x00\\x10\\x20\\x03\\x00GET http://example.com/chat HTTP/1.1\nHost: example.com\nUpgrade: WebSocket\nConnection: upgrade\nSec-WebSocket-Key: $RFC_KEY\nSec-WebSocket-Version: 13\n\n"
seed server_handshake wrong_version "\\x00\\x10\\x20\\x07\\x00GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: $RFC_KEY\r\nSec-WebSocket-Version: 8\r\n\r\n"
seed server_handshake tiny_limit "\\x20\\x00\\x02\\x00\\x00$RFC_REQUEST"

# client_handshake: same settings; flags bit 0 no deflate, bit 1 offer chat/superchat.
RFC_RESPONSE="HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: $RFC_ACCEPT\r\n"
seed client_handshake rfc_example "\\x00\\x10\\x20\\x07\\x02${RFC_RESPONSE}Sec-WebSocket-Protocol: chat\r\n\r\n"
seed client_handshake plain "\\x00\\x10\\x20\\x00\\x01${RFC_RESPONSE}\r\n"
seed client_handshake deflate "\\x00\\x10\\x20\\x09\\x00${RFC_RESPONSE}Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_max_window_bits=10\r\n\r\n"
seed client_handshake deflate_bare "\\x00\\x10\\x20\\x05\\x00${RFC_RESPONSE}Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
seed client_handshake then_frames "\\x00\\x10\\x20\\x03\\x00${RFC_RESPONSE}\r\n\\x81\\x05Hello\\x89\\x00\\x88\\x02\\x03\\xe8"
seed client_handshake rejected "\\x00\\x10\\x20\\x07\\x00HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n"
seed client_handshake rejected_with_body "\\x00\\x10\\x20\\x03\\x00HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: 21\r\n\r\n{\"error\":\"bad token\"}"
seed client_handshake rejected_until_close "\\x00\\x10\\x20\\x05\\x00HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\norigin not allowed"
seed client_handshake bad_accept "\\x00\\x10\\x20\\x07\\x00HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n"

# extensions: [client_flags, client_server_bits, client_client_bits, server_flags,
# server_server_bits, server_client_bits] + header value.
seed extensions chrome '\x00\x0f\x0f\x00\x0f\x0fpermessage-deflate; client_max_window_bits'
seed extensions firefox '\x00\x0f\x0f\x00\x0f\x0fpermessage-deflate'
seed extensions all_params '\x03\x0a\x0c\x00\x0f\x0fpermessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12, permessage-deflate'
seed extensions response '\x01\x09\x09\x02\x0b\x08permessage-deflate; server_no_context_takeover; server_max_window_bits=9; client_max_window_bits=8'
seed extensions quoted '\x00\x0f\x0f\x00\x0f\x0fpermessage-deflate; client_max_window_bits="15", x-foo; bar="baz"'
seed extensions legacy '\x00\x0f\x0f\x00\x0f\x0fx-webkit-deflate-frame, deflate-frame; max_window_bits=10,, foo'
seed extensions bad '\x00\x0f\x0f\x00\x0f\x0fpermessage-deflate; server_max_window_bits=16; a="x,y"'

# proxy_reply: [mark >= 0xf0, flags, chunk_seed] + the proxy's answer. flags: bit 0 SOCKS5,
# bit 1 credentials user/pw, bits 2-3 target, bits 4-7 write size - 1 (the structured
# inputs that do not start with the mark are built by `arbitrary` and need no seeds).
seed proxy_reply http_200 '\xf0\x00\xffHTTP/1.1 200 Connection established\r\n\r\n'
seed proxy_reply http_10_squid '\xf0\x00\x00HTTP/1.0 200 Connection established\r\nProxy-Agent: Squid/6.6\r\n\r\n'
seed proxy_reply http_interim '\xf0\x04\x05HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nX: y\r\n\r\nHTTP/1.1 200 OK\r\nVia: 1.1 proxy\r\n\r\n'
seed proxy_reply http_bare_lf '\xf0\x08\x03HTTP/1.1 204 \nVia: 1.1 squid\nProxy-Agent: x\n\n'
seed proxy_reply http_407 '\xf0\x02\x07HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="proxy"\r\nContent-Length: 0\r\n\r\n'
seed proxy_reply http_403_body '\xf0\x00\x09HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nForbidden'
seed proxy_reply http_502_chunked '\xf0\x0c\xffHTTP/1.1 502 Bad Gateway\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nerror\r\n0\r\n\r\n'
seed proxy_reply http_200_then_websocket '\xf0\x00\xffHTTP/1.1 200 OK\r\n\r\nHTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello'
seed proxy_reply http_obs_fold '\xf0\x00\xffHTTP/1.1 200 OK\r\nVia: 1.1 a,\r\n 1.1 b\r\n\r\n'
seed proxy_reply http_head_over_8k "\\xf0\\x00\\x11HTTP/1.1 200 OK\r\nX: %08200d\r\n\r\n" 0
seed proxy_reply http_gets_socks '\xf0\x00\xff\x05\x00'
seed proxy_reply socks_no_auth '\xf0\x01\x00\x05\x00\x05\x00\x00\x01\x7f\x00\x00\x01\x04\x38'
seed proxy_reply socks_auth_name '\xf0\x03\x00\x05\x02\x01\x00\x05\x00\x00\x03\x09proxy.lan\x00\x50'
seed proxy_reply socks_ipv6_then_tls '\xf0\x05\x00\x05\x00\x05\x00\x00\x04\xfd\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x01\xbb\x16\x03\x03\x00\x31'
seed proxy_reply socks_refused '\xf0\x01\x00\x05\x00\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00'
seed proxy_reply socks_no_acceptable '\xf0\x03\x00\x05\xff'
seed proxy_reply socks_auth_failed '\xf0\x03\x00\x05\x02\x01\x01'
seed proxy_reply socks_unknown_atyp '\xf0\x01\x00\x05\x00\x05\x00\x00\x02\x01\x02\x03\x04\x00\x50'
seed proxy_reply socks_gets_http '\xf0\x01\xffHTTP/1.1 400 Bad Request\r\n\r\n'

# h2_connect: [mark >= 0xf0, max_headers - 4, max_handshake_bytes - 256 (2 bytes, LE), flags]
# + "METHOD URI [:protocol]" and "name: value" lines. flags: bit 0 Config::deflate;
# bits 1-2 the subprotocol picked: 1 the (flags >> 3)th offered, 2 one not offered, else
# none. 0x3c 0x00 0x1f: the default limits (64 fields, 8 KiB).
H2_RFC8441="CONNECT https://server.example.com/chat websocket\nsec-websocket-protocol: chat, superchat\nsec-websocket-extensions: permessage-deflate\nsec-websocket-version: 13\norigin: http://www.example.com\n"
seed h2_connect rfc8441_example "\\xf0\\x3c\\x00\\x1f\\x03$H2_RFC8441"
seed h2_connect rfc8441_no_deflate "\\xf0\\x3c\\x00\\x1f\\x0a$H2_RFC8441"
seed h2_connect chrome "\\xf0\\x3c\\x00\\x1f\\x01CONNECT https://example.com/socket?room=1 websocket\nsec-websocket-version: 13\nsec-websocket-extensions: permessage-deflate; client_max_window_bits\norigin: https://example.com\nuser-agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36\naccept-encoding: gzip, deflate, br\naccept-language: en-US,en;q=0.9\ncookie: session=abc; theme=dark\n"
seed h2_connect firefox "\\xf0\\x3c\\x00\\x1f\\x01CONNECT https://example.com/chat websocket\nsec-websocket-version: 13\nsec-websocket-extensions: permessage-deflate\norigin: https://example.com\nsec-fetch-dest: websocket\nsec-fetch-mode: websocket\nsec-fetch-site: same-origin\npragma: no-cache\ncache-control: no-cache\n"
seed h2_connect host_header "\\xf0\\x3c\\x00\\x1f\\x02CONNECT /chat websocket\nhost: example.com:8443\nsec-websocket-version: 13\nsec-websocket-protocol: mqtt\n"
seed h2_connect http11_headers_too "\\xf0\\x3c\\x00\\x1f\\x00CONNECT https://example.com/ws websocket\nupgrade: websocket\nconnection: Upgrade\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\nsec-websocket-version: 13\n"
seed h2_connect not_offered "\\xf0\\x3c\\x00\\x1f\\x04$H2_RFC8441"
seed h2_connect no_protocol "\\xf0\\x3c\\x00\\x1f\\x00CONNECT https://example.com/chat\nsec-websocket-version: 13\n"
seed h2_connect other_protocol "\\xf0\\x3c\\x00\\x1f\\x00CONNECT https://example.com/chat connect-udp\nsec-websocket-version: 13\n"
seed h2_connect get "\\xf0\\x3c\\x00\\x1f\\x00GET https://example.com/chat websocket\nsec-websocket-version: 13\n"
seed h2_connect version_8 "\\xf0\\x3c\\x00\\x1f\\x00CONNECT https://example.com/chat websocket\nsec-websocket-version: 8\n"
seed h2_connect bad_subprotocol "\\xf0\\x3c\\x00\\x1f\\x02CONNECT https://example.com/chat websocket\nsec-websocket-version: 13\nsec-websocket-protocol: chat, bad protocol\n"
seed h2_connect tiny_limits "\\xf0\\x00\\x00\\x00\\x00$H2_RFC8441"

