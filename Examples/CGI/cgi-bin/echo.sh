#!/bin/sh
# A CGI/1.1 script for httpserve: prints what the server told it and echoes the request body.
#   swift run httpserve Examples/CGI --cgi
#   curl -d 'hello' 'http://127.0.0.1:8000/cgi-bin/echo.sh/extra/path?q=1'
printf 'Content-Type: text/plain; charset=utf-8\r\n'
printf 'X-Script: echo.sh\r\n'
printf '\r\n'
echo "method: $REQUEST_METHOD"
echo "script: $SCRIPT_NAME"
echo "path info: $PATH_INFO"
echo "query: $QUERY_STRING"
echo "content type: ${CONTENT_TYPE:-none}"
echo "content length: ${CONTENT_LENGTH:-none}"
echo "remote: $REMOTE_ADDR"
echo "server: $SERVER_SOFTWARE ($GATEWAY_INTERFACE, $SERVER_PROTOCOL)"
echo "user agent: ${HTTP_USER_AGENT:-none}"
echo "body:"
cat
