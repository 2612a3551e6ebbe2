import { useQuery } from "@tanstack/react-query";
import { useSession } from "../auth/session";
import { listAppointments, listDoctors, myPatient } from "./api";

/** useMyComingAppointments loads the signed-in patient's record, the doctors, and the patient's appointments from now on. */
export function useMyComingAppointments() {
  const { client } = useSession();
  const patient = useQuery({ queryKey: ["me", "patient"], queryFn: () => myPatient(client) });
  const doctors = useQuery({ queryKey: ["doctors"], queryFn: () => listDoctors(client) });
  const appts = useQuery({
    queryKey: ["appointments", "mine", patient.data?.id],
    enabled: !!patient.data,
    queryFn: () => listAppointments(client, { patient_id: patient.data!.id, from: new Date() }),
  });
  return { patient, doctors, appts };
}
