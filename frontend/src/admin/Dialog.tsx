import { useEffect, useId, useRef, type ReactNode } from "react";
import "./admin.css";

/**
 * Dialog asks a question in a modal dialog while it is rendered. The
 * browser's dialog keeps focus inside it and closes it on Escape, which
 * calls onClose.
 */
export function Dialog({ title, onClose, children }: { title: string; onClose: () => void; children: ReactNode }) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleID = useId();
  useEffect(() => {
    const d = ref.current;
    if (!d || d.open) return;
    if (typeof d.showModal === "function") d.showModal();
    else d.setAttribute("open", "");
  }, []);
  return (
    <dialog
      ref={ref}
      className="card admin-dialog"
      aria-labelledby={titleID}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
    >
      <h2 id={titleID} className="h2">
        {title}
      </h2>
      {children}
    </dialog>
  );
}
