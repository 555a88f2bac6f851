#!/bin/bash
# usage: collect.sh  -> runs one collect child into a fresh data dir
d=$(mktemp -d /tmp/kbw.XXXX)
npx tsx bench/kafka-ingest.ts --child collect --topic perf --brokers 127.0.0.1:19092 --data-dir $d
rm -rf $d
