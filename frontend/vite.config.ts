/// <reference types="vitest/config" />
import { writeFileSync } from "node:fs";
import { defineConfig, type Plugin } from "vite";
import react from "@vitejs/plugin-react";

// The build goes to dist, which frontend/embed.go puts into the Go
// binaries. dist/.gitkeep keeps the folder in the repository, so Go builds
// without a UI; the build empties the folder and puts it back.
function keepDist(): Plugin {
  return { name: "keep-dist", apply: "build", closeBundle: () => writeFileSync("dist/.gitkeep", "") };
}

export default defineConfig({
  plugins: [react(), keepDist()],
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false },
  server: { proxy: { "/api": { target: "http://127.0.0.1:8080", ws: true } } },
  // A test waits on conditions, never on the clock: the deadlines are
  // generous so that a busy machine (two cores, other builds) slows a run
  // without failing it, and only a real failure ever reaches them.
  test: {
    environment: "jsdom",
    globals: true,
    include: ["src/**/*.test.{ts,tsx}"],
    setupFiles: ["src/test-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
