#!/usr/bin/env node
// `npx flashsale …` (package.json "bin"): the operator's CLI, scripts/sale.ts, run through tsx's
// loader (the CLI imports the server's zod schemas from domain/, which are TypeScript).
import { register } from "tsx/esm/api";

register();
await import("../scripts/sale.ts");
