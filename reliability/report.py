"""Renders the JSON of ./faults --json and ./soak --json as the figures of RELIABILITY.md.
Usage: python3 reliability/report.py FAULTS.json [SOAK.json]"""

import json
import sys

def cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def faults_table(data):
    """Every case's figures, one item per case."""
    out = [f"From `./faults` at commit `{data['commit']}`, {data['date']} (scale {data['scale']}):", ""]
    for r in data["results"]:
        verdict = "pass" if r["passed"] else "FAIL: " + "; ".join(x[:300] for x in r["failures"])
        out.append(f"- **{r['case']} ({r['variant']})**, {verdict}; {r.get('seconds', '?')} s. "
                   + "; ".join(f"{k}: {v}" for k, v in r["figures"].items()))
    return "\n".join(out)


def soak_table(s):
    counts = s["counts"]
    out = [f"Soak at commit `{s['commit']}`, {s['date']}, {s['minutes']:g} minutes: `{s['server']}`.", "",
           "| load or fault | outcomes |", "|---|---|"]
    for kind, d in sorted(counts.items()):
        out.append(f"| {kind} | " + ", ".join(f"{o}: {v:,}" for o, v in sorted(d.items())) + " |")
    out.append("")
    out.append(f"Echoes intact {s['intact']:,}, lost {s['lost']:,}, corrupted {s['corrupted']:,}; stalled "
               f"clients not cut {s['not_cut']}; exit status on SIGTERM {s['exit_status']}.")
    smp = s["samples"]
    if smp:
        at1 = next((x for x in smp if x["t"] >= 60), smp[0])
        out.append(f"RSS: {at1['rss_mb']} MB at {at1['t']} s, max {max(x['rss_mb'] for x in smp if x['t'] >= at1['t'])}"
                   f" MB after it (+{s.get('rss_growth_after_1min_mb')}), {smp[-1]['rss_mb']} MB at the end "
                   f"({s.get('rss_end_minus_1min_mb'):+} MB); descriptors {at1['fds']} -> {smp[-1]['fds']}, "
                   f"threads {at1['threads']} -> {smp[-1]['threads']}.")
        out.append("")
        out.append("RSS every 10 s (MB): " + ", ".join(f"{x['rss_mb']:.0f}" for x in smp))
    return "\n".join(out)


def main():
    with open(sys.argv[1]) as f:
        print(faults_table(json.load(f)))
    if len(sys.argv) > 2:
        print()
        with open(sys.argv[2]) as f:
            print(soak_table(json.load(f)))


if __name__ == "__main__":
    main()
