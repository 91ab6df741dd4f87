#!/usr/bin/env node
// The one command-line entry: `inkcard <command>`. Runs the TypeScript sources through tsx.
import { register } from "tsx/esm/api";

register();
await import("../host-tools/cli.ts");
