// Composes Aula's subgraphs into a supergraph with @theguild/federation-composition.
// Input on stdin: JSON [{ "name": "...", "url": "...", "sdl": "..." }]; output on stdout: the
// supergraph SDL. Composition errors go to stderr, one per line, and the exit code is 1.
// Called by `aula compose`, which exports each subgraph's SDL from its Rust schema.
import { readFileSync } from "node:fs";
import { parse } from "graphql";
import { composeServices, compositionHasErrors } from "@theguild/federation-composition";

let services;
try {
  services = JSON.parse(readFileSync(0, "utf8"));
} catch (e) {
  console.error(`compose: stdin is not the JSON list of subgraphs: ${e.message}`);
  process.exit(2);
}

let definitions;
try {
  definitions = services.map((s) => ({ name: s.name, url: s.url, typeDefs: parse(s.sdl) }));
} catch (e) {
  console.error(`compose: a subgraph SDL does not parse: ${e.message}`);
  process.exit(1);
}

const result = composeServices(definitions);
if (compositionHasErrors(result)) {
  for (const error of result.errors) {
    const code = error.extensions?.code ? `[${error.extensions.code}] ` : "";
    console.error(`compose: ${code}${error.message}`);
  }
  process.exit(1);
}
process.stdout.write(result.supergraphSdl.endsWith("\n") ? result.supergraphSdl : `${result.supergraphSdl}\n`);
