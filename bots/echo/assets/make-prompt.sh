#!/usr/bin/env bash
# Regenerates the echo test service's spoken prompt (committed; run only to change it).
# Needs: apt-get install -y espeak-ng sox
set -euo pipefail
cd "$(dirname "$0")"
espeak-ng -v en-us+f2 -s 165 --stdout \
  "This is the confab echo test. After the tone, say something. You will hear it played back." \
  | sox -D -t wav - -r 16000 -c 1 -b 16 -e signed-integer prompt.wav norm -3
