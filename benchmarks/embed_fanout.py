"""A/B in one run: a 32-input Titan embeddings batch through the gateway with params.embed_concurrency
1 (sequential InvokeModel calls) and 8, against the fake Bedrock (10 ms per InvokeModel call).

    PYTHONPATH=. python -m benchmarks.embed_fanout [rounds]

Prints the median wall time per batch for each setting and their ratio. Tests never assert timings.
"""

from __future__ import annotations

import statistics
import sys
import time

import httpx

from tests.fakes import bedrock_upstream
from tests.gateway import GatewayProcess

ACCESS, SECRET, REGION = "AKIDBENCHFANOUT01", "bench/Secret+Key0123456789abcdefEXAMPLE", "us-west-2"
CLEAN_ENV = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "", "AWS_REGION": "", "AWS_DEFAULT_REGION": ""}
BODY = {"model": "bedrock/amazon.titan-embed-text-v2:0", "input": [f"text {n}" for n in range(32)], "dimensions": 256}


def run(rounds: int) -> None:
    fake = bedrock_upstream.start({ACCESS: (SECRET, None)}, REGION)
    results: dict[int, float] = {}
    try:
        for concurrency in (1, 8):
            config = (f'[providers.bedrock]\napi_key = "{ACCESS}"\nbase_url = "{fake.url}"\ntimeout = 10\n'
                      f'params = {{ region = "{REGION}", secret_access_key = "{SECRET}", embed_concurrency = {concurrency} }}\n')
            gateway = GatewayProcess(config, env=CLEAN_ENV).start()
            try:
                with httpx.Client(timeout=30) as client:
                    client.post(f"{gateway.url}/v1/embeddings", headers=gateway.auth, json=BODY).raise_for_status()  # warm up
                    times = []
                    for _ in range(rounds):
                        start = time.perf_counter()
                        client.post(f"{gateway.url}/v1/embeddings", headers=gateway.auth, json=BODY).raise_for_status()
                        times.append(time.perf_counter() - start)
                results[concurrency] = statistics.median(times)
            finally:
                gateway.stop()
    finally:
        fake.stop()
    for concurrency, seconds in results.items():
        print(f"embed_concurrency={concurrency}: median {seconds * 1000:.1f} ms per 32-input batch")
    print(f"ratio (1 / 8): {results[1] / results[8]:.2f}x")


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
