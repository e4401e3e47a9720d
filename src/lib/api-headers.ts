/**
 * The headers of every API answer (JSON is not rendered, so most page headers mean nothing
 * there): not sniffed as anything else, never framed, nothing loaded (as the OWASP REST cheat
 * sheet lists for APIs).
 */
export const API_HEADERS: [string, string][] = [
  ["x-content-type-options", "nosniff"],
  ["x-frame-options", "DENY"],
  ["content-security-policy", "default-src 'none'; frame-ancestors 'none'"],
];

/**
 * A private JSON answer's whole header set (the API set, and `no-store`: it carries tokens or a
 * shopper's own data, or is true only for a moment), built once: each Response copies it in
 * one call into the runtime instead of five.
 */
export const PRIVATE_JSON = new Headers([["content-type", "application/json"], ...API_HEADERS, ["cache-control", "no-store"]]);
