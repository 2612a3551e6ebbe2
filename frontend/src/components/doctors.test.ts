import { afterEach, describe, expect, it, vi } from "vitest";
import { doctorName, hasDoctorTitle, timeZones } from "./doctors";

afterEach(() => vi.restoreAllMocks());

describe("doctorName", () => {
  it("gives a doctor one title, whatever the name already has", () => {
    expect(doctorName("Ada Lovelace")).toBe("Dr Ada Lovelace");
    expect(doctorName("Dr Ada Lovelace")).toBe("Dr Ada Lovelace");
    expect(doctorName("Dr. Lee")).toBe("Dr. Lee");
    expect(doctorName("Dr.Lee")).toBe("Dr.Lee");
    expect(doctorName("doctor Who")).toBe("doctor Who");
    expect(doctorName("Drew Barrymore")).toBe("Dr Drew Barrymore");
    expect(hasDoctorTitle("Dre Dreyfus")).toBe(false);
  });
});

describe("timeZones", () => {
  it("lists the browser's zones with UTC first and keeps the zones asked for", () => {
    const zones = timeZones("Europe/Berlin");
    expect(zones[0]).toBe("UTC");
    expect(zones).toContain("Europe/Berlin");
    expect(zones).toContain("America/New_York");
  });

  it("falls back to a list of its own when the browser cannot list zones", () => {
    vi.spyOn(Intl, "supportedValuesOf").mockImplementation(() => {
      throw new RangeError("not supported");
    });
    const zones = timeZones("Antarctica/Troll");
    expect(zones).toContain("Europe/London");
    expect(zones).toContain("Antarctica/Troll");
    expect(new Set(zones).size).toBe(zones.length);
  });
});
