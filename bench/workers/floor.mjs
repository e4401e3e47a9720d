// Bench-only: the floor under a claim on this runtime. It does what any claim must do and
// nothing else (no routing, tokens, limits or SQL), so the claim rows can be read against it:
//   POST /body    read the JSON body, answer a small JSON (the HTTP part of a claim)
//   POST /object  the same plus one RPC call to a Durable Object method that does nothing
//                 (the hop every claim makes to its sale's object)
import { DurableObject } from "cloudflare:workers";

export class Echo extends DurableObject {
  ping(x) {
    return { ok: true, x };
  }
}

export default {
  async fetch(request, env) {
    const body = await request.json();
    const path = new URL(request.url).pathname;
    if (path === "/object") {
      const r = await env.ECHO.get(env.ECHO.idFromName("floor")).ping(body);
      return Response.json(r, { status: 201 });
    }
    return Response.json({ ok: true, x: body }, { status: 201 });
  },
};
