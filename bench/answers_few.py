"""The few-rows path against the batch path: the same scenarios asked one at a time, in tens and
in hundreds must get the same answers (a request of a few scenarios goes through the core as
arrays with text as object arrays; a large one as categoricals, which `answers_snapshot` pins).

    DATABASE_URL=postgres://... .venv/bin/python -m bench.answers_few [--n 300]

Runs in a scratch test database like `answers_snapshot` (its scenarios and fixture); caches are
emptied between the passes so every answer is computed. Exits 1 and names the first scenario
whose answers differ.
"""

from __future__ import annotations

import argparse
import json
import sys

from bench.answers_snapshot import ROOT, _catalog, catalog_database, scenarios, setup_django


def _ask(client, items: list[dict], size: int) -> list[str]:
    from django.core.cache import cache

    from estimator.services import catalog_cache

    catalog_cache.forget()
    cache.clear()
    answers = []
    for start in range(0, len(items), size):
        chunk = items[start:start + size]
        body = chunk[0] if size == 1 else {"scenarios": chunk}
        response = client.post("/api/v1/estimate/", body, content_type="application/json")
        if response.status_code != 200:
            answers += [f"refused {response.status_code}"] * len(chunk)  # compared only in the same shape
            continue
        data = response.json()
        answers += [json.dumps(row, sort_keys=True) for row in (data["results"] if size > 1 else [data])]
    return answers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--database-url")
    args = parser.parse_args(argv)
    setup_django(args.database_url)
    from django.test import Client

    with catalog_database(ROOT / "fixtures" / "catalog.json"):
        client = Client()
        items = scenarios(_catalog())[: args.n]
        single = _ask(client, items, 1)
        # A batch with one bad scenario is refused whole: compare the scenarios answered alone.
        kept = [index for index, answer in enumerate(single) if not answer.startswith("refused")]
        passes = {size: _ask(client, [items[index] for index in kept], size) for size in (100, 10)}
    for size, answers in passes.items():
        for index, answer in zip(kept, answers):
            if answer != single[index]:
                print(f"scenario {index}: asked {size} at a time, the answer differs from asked alone")
                alone, other = json.loads(single[index]), json.loads(answer)
                for key in sorted(set(alone) | set(other)):
                    if alone.get(key) != other.get(key):
                        print(f"  {key}: alone {json.dumps(alone.get(key))[:300]}")
                        print(f"  {' ' * len(key)}  batch {json.dumps(other.get(key))[:300]}")
                return 1
    print(f"{len(kept)} scenarios ({len(items) - len(kept)} refused): the same answers alone, in tens and in hundreds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
