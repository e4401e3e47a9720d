/**
 * The client network an address belongs to, for rate limits and per-network caps: an IPv4
 * address is its own network, an IPv6 address belongs to its /64 (one subscriber usually holds a
 * whole /64, so keying on the full address would give each of them 2^64 identities). An address
 * that is missing or not an address at all gets a key of its own kind, so such requests never
 * share a bucket with real clients (nor can a client pick a header value that lands in another
 * client's bucket: keys are built from the parsed address, never from the raw text).
 */
export type Network = { kind: "v4" | "v6" | "none"; key: string };

const V4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function v4(s: string): string | null {
  const m = V4.exec(s);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  return parts.every((p) => p <= 255) ? parts.join(".") : null;
}

/** The eight 16-bit groups of an IPv6 address, or null. */
function v6Groups(s: string): number[] | null {
  let tail: number[] = [];
  if (s.includes(".")) {
    // An embedded IPv4 tail (::ffff:192.0.2.1) stands for the last two groups.
    const at = s.lastIndexOf(":");
    const four = v4(s.slice(at + 1));
    if (at < 0 || !four) return null;
    const [a, b, c, d] = four.split(".").map(Number) as [number, number, number, number];
    tail = [(a << 8) | b, (c << 8) | d];
    s = s.endsWith(`::${s.slice(at + 1)}`) ? s.slice(0, at + 1) : s.slice(0, at);
  }
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const parse = (h: string) => (h === "" ? [] : h.split(":"));
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  const want = 8 - tail.length;
  const missing = want - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...rest];
  if (!groups.every((g) => /^[0-9a-f]{1,4}$/i.test(g))) return null;
  return [...groups.map((g) => parseInt(g, 16)), ...tail];
}

export function networkOf(address: string | null | undefined): Network {
  const s = (address ?? "")
    .trim()
    .replace(/^\[|\]$/g, "")
    .replace(/%.*$/, "");
  const four = v4(s);
  if (four) return { kind: "v4", key: `v4:${four}` };
  const g = s.includes(":") ? v6Groups(s) : null;
  if (!g) return { kind: "none", key: "none" };
  // IPv4-mapped (::ffff:a.b.c.d): the IPv4 network it really is.
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) {
    return { kind: "v4", key: `v4:${g[6]! >> 8}.${g[6]! & 255}.${g[7]! >> 8}.${g[7]! & 255}` };
  }
  return {
    kind: "v6",
    key: `v6:${g
      .slice(0, 4)
      .map((x) => x.toString(16))
      .join(":")}::/64`,
  };
}
