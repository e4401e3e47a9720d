-- The relational record for finance: written only by the product objects' outbox flush
-- (INSERT ... ON CONFLICT DO NOTHING), so every statement here must be safe to repeat.

CREATE TABLE sales (
  id             TEXT PRIMARY KEY,
  product_id     TEXT NOT NULL,
  product_name   TEXT NOT NULL,
  price          INTEGER NOT NULL,          -- minor units
  currency       TEXT NOT NULL,
  stock_total    INTEGER NOT NULL,
  starts_at      TEXT NOT NULL,             -- ISO 8601
  ends_at        TEXT NOT NULL,
  release_policy TEXT NOT NULL,
  state          TEXT NOT NULL,             -- live | paused | closed
  config         TEXT NOT NULL,             -- the full JSON config
  version        INTEGER NOT NULL,          -- guards against an older snapshot overwriting a newer
  updated_at     TEXT NOT NULL
);

CREATE TABLE orders (
  id           TEXT PRIMARY KEY,            -- derived from the hold id: one order per hold
  sale_id      TEXT NOT NULL REFERENCES sales(id),
  hold_id      TEXT NOT NULL UNIQUE,
  user_id      TEXT NOT NULL,
  product_id   TEXT NOT NULL,
  qty          INTEGER NOT NULL CHECK (qty > 0),
  amount       INTEGER NOT NULL,            -- minor units
  currency     TEXT NOT NULL,
  charge_id    TEXT NOT NULL,
  held_at      TEXT NOT NULL,
  confirmed_at TEXT NOT NULL,
  recorded_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX orders_by_sale ON orders (sale_id, confirmed_at);
CREATE INDEX orders_by_user ON orders (user_id);

-- Charges that landed for a hold that had already ended (or a second charge for one hold):
-- refunded automatically, recorded here.
CREATE TABLE refunds (
  id           TEXT PRIMARY KEY,
  sale_id      TEXT NOT NULL REFERENCES sales(id),
  hold_id      TEXT NOT NULL,
  user_id      TEXT NOT NULL,
  charge_id    TEXT NOT NULL UNIQUE,
  refund_ref   TEXT NOT NULL,               -- the gateway's refund id
  amount       INTEGER NOT NULL,
  currency     TEXT NOT NULL,
  reason       TEXT NOT NULL,
  refunded_at  TEXT NOT NULL,
  recorded_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX refunds_by_sale ON refunds (sale_id);
