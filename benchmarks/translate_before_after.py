"""Issue 11 one-off: translation cost before (the branch point 3b9091d, imported as llmg_old) and
after (this tree), interleaved in one process so machine load hits both alike.

    rm -rf /tmp/tr_old && mkdir -p /tmp/tr_old && git archive 3b9091d llmg | tar -x -C /tmp/tr_old \
        && mv /tmp/tr_old/llmg /tmp/tr_old/llmg_old
    .venv/bin/python benchmarks/translate_before_after.py 200 30   # iterations per round, rounds (best round wins)
"""
import sys
import timeit
from pathlib import Path

sys.path.insert(0, "/tmp/tr_old")
import llmg_old.providers.anthropic_map as oam
import llmg_old.providers.gemini_map as ogm
import msgspec
from llmg_old.schemas.openai import encode as oencode
from llmg_old.streaming import SSEParser as OParser

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import benchmarks.translate as new

GOLDEN = Path(__file__).resolve().parent.parent / "tests" / "providers" / "golden"
dec = msgspec.json.decode; enc = msgspec.json.Encoder().encode

def old_cases():
    for p in sorted((GOLDEN / "anthropic").glob("response_*.json")):
        raw = enc(dec(p.read_bytes())["anthropic"])
        yield f"anthropic {p.stem}", lambda raw=raw: oencode(oam.from_anthropic(dec(raw), "m", created=0))
    for p in sorted((GOLDEN / "anthropic").glob("stream_*.sse")):
        if p.stem == "stream_error": continue
        sse = p.read_bytes()
        def run(sse=sse):
            parser, t = OParser(), oam.StreamTranslator("m", True, created=0); out = []
            for ev in parser.feed(sse): out += t.feed(ev.event, ev.data)
            for ev in parser.close(): out += t.feed(ev.event, ev.data)
            return out
        yield f"anthropic {p.stem}", run
    for p in sorted((GOLDEN / "gemini").glob("response_*.json")):
        raw = enc(dec(p.read_bytes())["gemini"])
        yield f"gemini {p.stem}", lambda raw=raw: enc(ogm.to_completion(dec(raw), "m", created=0))
    for p in sorted((GOLDEN / "gemini").glob("stream_*.json")):
        events = [enc(e) for e in dec(p.read_bytes())["gemini"]]
        def run(events=events):
            m = ogm.StreamMapper("m", True, created=0); out = []
            for e in events: out += m.feed(dec(e))
            return out + m.close()
        yield f"gemini {p.stem}", run

number = int(sys.argv[1]) if len(sys.argv) > 1 else 500
olds, news = dict(old_cases()), {k: v for k, v in new.cases() if "async" not in k}
best = {k: [float("inf"), float("inf")] for k in olds}
for _ in range(int(sys.argv[2]) if len(sys.argv) > 2 else 15):
    for k in olds:
        best[k][0] = min(best[k][0], timeit.timeit(olds[k], number=number) / number)
        best[k][1] = min(best[k][1], timeit.timeit(news[k], number=number) / number)
print(f"{'case':40s} {'before us':>10s} {'after us':>10s} {'after/before':>12s}")
for k, (o, n) in best.items():
    print(f"{k:40s} {o*1e6:10.2f} {n*1e6:10.2f} {n/o:12.2f}")
