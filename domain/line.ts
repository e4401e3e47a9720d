/**
 * The line's order, shared by the edge (which hands out places and reads the watermark) and the
 * waiting room (which advances the watermark). Nothing here is written per shopper.
 *
 * A place is `{ b: bucket, k: key }`:
 *  - `bucket` is when the shopper arrived: 0 for any time before the opening (the pre-queue), then
 *    1, 2, … for each BUCKET_MS after it. Arrivals are served bucket by bucket: first come, first
 *    served at a granularity of BUCKET_MS.
 *  - `key` is a 48-bit number drawn from the shopper's identity with the sale's secret salt
 *    (HMAC), so it is random to the shopper yet the same every time the same identity joins.
 *    Within a bucket places are served by key: the pre-queue (everyone in bucket 0) is a lottery
 *    with exactly one ticket per identity, however many sessions or joins it makes.
 *
 * The watermark is the last place admitted: a ticket at or under it is admitted.
 */
export type Place = { b: number; k: number };

/** First come, first served at this granularity after the opening. */
export const BUCKET_MS = 100;
/** Keys are 48-bit: exact in a double, and collisions are negligible for any crowd. */
export const KEY_SPACE = 2 ** 48;

export const comparePlaces = (x: Place, y: Place): number => x.b - y.b || x.k - y.k;

/**
 * The arrival bucket at `now`. Arrivals before `drawAt` (the opening plus the sale's `lottery_s`)
 * join the pre-queue's draw (bucket 0); later buckets keep their time since the opening, so bucket
 * b > 0 arrived in [opening + (b-1)·BUCKET_MS, opening + b·BUCKET_MS).
 */
export function bucketAt(now: number, startsAt: number, drawAt = startsAt): number {
  return now < Math.max(startsAt, drawAt) ? 0 : 1 + Math.floor((now - startsAt) / BUCKET_MS);
}

/**
 * The last bucket whose arrivals have all been reported at `now` (-1: none yet). Bucket 0 ends at
 * the opening, bucket b at the opening + b·BUCKET_MS. Isolates report every `reportEveryMs`
 * (COUNTER_FLUSH_MS); `slackMs` (LINE_SLACK_MS) more covers a report's trip and a clock a little off.
 */
export function sealedBucket(now: number, startsAt: number, reportEveryMs: number, slackMs: number, drawAt = startsAt): number {
  const complete = now - reportEveryMs - slackMs;
  // Bucket 0 (the pre-queue and the lottery window) ends at the draw.
  if (complete < Math.max(startsAt, drawAt)) return -1;
  return Math.floor((complete - startsAt) / BUCKET_MS);
}

/** Imported salts: one per sale, imported once (not on every join). A handful per isolate. */
const saltKeys = new Map<string, Promise<CryptoKey>>();

function saltKey(saltHex: string): Promise<CryptoKey> {
  let key = saltKeys.get(saltHex);
  if (!key) {
    const raw = new Uint8Array(saltHex.match(/../g)!.map((h) => parseInt(h, 16)));
    key = crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    if (saltKeys.size >= 256) saltKeys.clear();
    saltKeys.set(saltHex, key);
    key.catch(() => saltKeys.delete(saltHex));
  }
  return key;
}

/**
 * Keys already drawn, per salt and identity: a shopper who joins again (a retry, a reload, a
 * replayed challenge) costs a look-up, not an HMAC. A pure function's memo (same inputs, same
 * key), so nothing to drop on a reset; emptied when it grows past its bound.
 */
const drawn = new Map<string, Map<string, number>>();
const DRAWN_MAX = 20_000;
let drawnSize = 0;

/** The line key of an identity in a sale: HMAC-SHA256(salt, identity), first 48 bits. */
export async function lineKey(saltHex: string, identity: string): Promise<number> {
  const known = drawn.get(saltHex)?.get(identity);
  if (known !== undefined) return known;
  const k = await drawKey(saltHex, identity);
  if (drawnSize >= DRAWN_MAX) {
    drawn.clear();
    drawnSize = 0;
  }
  let forSalt = drawn.get(saltHex);
  if (!forSalt) drawn.set(saltHex, (forSalt = new Map()));
  forSalt.set(identity, k);
  drawnSize++;
  return k;
}

async function drawKey(saltHex: string, identity: string): Promise<number> {
  const key = await saltKey(saltHex);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(identity)));
  let n = 0;
  for (let i = 0; i < 6; i++) n = n * 256 + mac[i]!;
  return n;
}

/**
 * An admission mark: by time `t`, `admitted` shoppers in all, the last at `upto`. A mark gathers
 * the admissions of one stretch of time, from `from` (the first of them) to before `t` (the end
 * of the stretch): the active window counts them until `t` (never shorter than they are), and a
 * shopper's admission time is `from` (never later than they were admitted). Marks stored before
 * `from` existed have only `t`.
 */
export type Mark = { t: number; admitted: number; upto: Place | null; from?: number };

/**
 * When the watermark passed `place`, from the room's marks (oldest first; the oldest may be the
 * one just before the active window, whose admissions are over): the start of the first mark at
 * or past it, or null if none is. Never later than the tick that admitted it, so an admission
 * time never lies in the future of a hold it led to. A place passed before even the oldest mark
 * gets that mark's time, which is older than the window: over too.
 */
export function admittedAt(marks: Mark[], place: Place): number | null {
  for (const { t, upto, from } of marks) if (upto && comparePlaces(upto, place) >= 0) return from ?? t;
  return null;
}

/**
/** How many wait in arrival bucket `b` (a run of buckets, counted at its first, in long lines). */
export type Waiting = { b: number; n: number };

/**
 * How many are ahead of `place` (approximately, from counts per bucket: within a bucket places
 * are spread evenly over the key space). `waiting` lists the buckets at and after the
 * watermark's with how many wait in each; `leftInUpto` is how many in the watermark's own bucket
 * are still waiting.
 */
export function aheadOf(place: Place, upto: Place | null, waiting: Waiting[]): number {
  let ahead = 0;
  for (const { b, n } of waiting) {
    if (b > place.b) break;
    if (b < place.b) {
      ahead += n;
      continue;
    }
    // The shopper's own bucket: the part of it below their key.
    const from = upto && upto.b === b ? upto.k : 0;
    const share = Math.max(0, place.k - from) / Math.max(1, KEY_SPACE - from);
    ahead += Math.floor(n * share);
  }
  return ahead;
}
