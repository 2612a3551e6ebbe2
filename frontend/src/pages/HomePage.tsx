import { useSession } from "../auth/session";
import { AdminHome } from "../home/AdminHome";
import { DoctorHome } from "../home/DoctorHome";
import { PatientHome } from "../home/PatientHome";
import { StaffHome } from "../home/StaffHome";

/** HomePage is what each role needs first thing in the morning. */
export function HomePage() {
  const { user } = useSession();
  if (!user) return null;
  switch (user.role) {
    case "patient":
      return <PatientHome name={user.name} />;
    case "doctor":
      return <DoctorHome name={user.name} />;
    case "staff":
      return <StaffHome name={user.name} />;
    case "admin":
      return <AdminHome name={user.name} />;
  }
}
