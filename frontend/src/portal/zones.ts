import { useQueries } from "@tanstack/react-query";
import { op } from "../api/operations";
import type { Availability } from "../api/types";
import { useSession } from "../auth/session";

/**
 * useDoctorZones gives the time zone of each doctor's hours (from their
 * availability), so their appointments and slots can be shown on the
 * doctor's clock with the zone named. A doctor whose zone is not known yet,
 * or who has no hours, gets undefined: times then show on the viewer's clock.
 */
export function useDoctorZones(doctorIDs: (string | undefined)[]): (doctorID: string | undefined) => string | undefined {
  const { client } = useSession();
  const ids = [...new Set(doctorIDs.filter((id): id is string => !!id))].sort();
  const results = useQueries({
    queries: ids.map((id) => ({
      queryKey: ["availability", id, "zone"],
      queryFn: () => client.request<Availability>(...op("GET /api/v1/doctors/{id}/availability", { id })).then((a) => a.time_zone || null),
      staleTime: 5 * 60_000,
      retry: false,
    })),
  });
  const zones = new Map(ids.map((id, i) => [id, results[i]?.data ?? undefined]));
  return (doctorID) => (doctorID ? zones.get(doctorID) : undefined);
}
