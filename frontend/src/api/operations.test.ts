import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
// @ts-expect-error: a plain ES module without types
import { docPath, generate, outPath } from "../../scripts/gen-api.mjs";
import { op } from "./operations";

describe("op", () => {
  it("fills and escapes path parameters and adds the query", () => {
    expect(op("GET /api/v1/doctors/{id}/slots", { id: "a/b c" }, new URLSearchParams({ from: "x" }))).toEqual(["GET", "/api/v1/doctors/a%2Fb%20c/slots?from=x"]);
    expect(op("POST /api/v1/auth/login")).toEqual(["POST", "/api/v1/auth/login"]);
    expect(() => op("GET /api/v1/conversations/{id}")).toThrow(/no value for \{id\}/);
  });
});

describe("schema.ts", () => {
  it("is generated from the current copy of the server's API document", () => {
    const want = generate(JSON.parse(readFileSync(docPath, "utf8")));
    expect(readFileSync(outPath, "utf8"), "run: cd frontend && npm run gen-api").toBe(want);
  });
});
