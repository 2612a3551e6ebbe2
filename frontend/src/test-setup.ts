import "@testing-library/jest-dom/vitest";
import { configure } from "@testing-library/react";
import { vi } from "vitest";

// findBy*, waitFor and vi.waitFor give up after 30 s rather than their
// default of one second, which a loaded machine can exceed while rendering.
// Passing tests return as soon as their condition holds; only a failing one
// waits it out.
const patience = 30_000;
configure({ asyncUtilTimeout: patience });
const waitFor = vi.waitFor;
vi.waitFor = ((callback, options) => waitFor(callback, typeof options === "number" ? options : { timeout: patience, ...options })) as typeof vi.waitFor;
const waitUntil = vi.waitUntil;
vi.waitUntil = ((callback, options) => waitUntil(callback, typeof options === "number" ? options : { timeout: patience, ...options })) as typeof vi.waitUntil;
