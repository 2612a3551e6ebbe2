import { Lexer, type Token, type Tokens } from "marked";
import { memo, type ReactNode } from "react";

/**
 * Markdown renders model output. It never builds HTML: marked only splits
 * the text into tokens, and each token becomes a React element, so raw
 * HTML in the text is shown as text and links are kept only for http,
 * https and mailto addresses. Citation markers such as [2] become buttons
 * that open the cited passage.
 */
export const Markdown = memo(function Markdown({ text, onCite }: { text: string; onCite?: (n: number) => void }) {
  const tokens = Lexer.lex(text, { gfm: true, breaks: false });
  return <div className="markdown">{blocks(tokens, onCite)}</div>;
});

function blocks(tokens: Token[], onCite?: (n: number) => void): ReactNode[] {
  return tokens.map((t, i) => block(t, i, onCite));
}

function block(t: Token, key: number, onCite?: (n: number) => void): ReactNode {
  switch (t.type) {
    case "space":
      return null;
    case "heading": {
      // Answers sit under the page's own headings: levels start at h3.
      const level = Math.min(6, (t as Tokens.Heading).depth + 2);
      const H = `h${level}` as "h3";
      return <H key={key}>{inline((t as Tokens.Heading).tokens, onCite)}</H>;
    }
    case "paragraph":
      return <p key={key}>{inline((t as Tokens.Paragraph).tokens, onCite)}</p>;
    case "blockquote":
      return <blockquote key={key}>{blocks((t as Tokens.Blockquote).tokens, onCite)}</blockquote>;
    case "code":
      return (
        <pre key={key}>
          <code>{(t as Tokens.Code).text}</code>
        </pre>
      );
    case "hr":
      return <hr key={key} />;
    case "list": {
      const l = t as Tokens.List;
      const items = l.items.map((item, j) => <li key={j}>{blocks(item.tokens, onCite)}</li>);
      return l.ordered ? (
        <ol key={key} start={typeof l.start === "number" ? l.start : undefined}>
          {items}
        </ol>
      ) : (
        <ul key={key}>{items}</ul>
      );
    }
    case "table": {
      const tb = t as Tokens.Table;
      return (
        <div className="table-scroll" key={key}>
          <table>
            <thead>
              <tr>
                {tb.header.map((c, j) => (
                  <th key={j} scope="col">
                    {inline(c.tokens, onCite)}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {tb.rows.map((row, r) => (
                <tr key={r}>
                  {row.map((c, j) => (
                    <td key={j}>{inline(c.tokens, onCite)}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      );
    }
    case "text": {
      const tx = t as Tokens.Text;
      return <p key={key}>{tx.tokens ? inline(tx.tokens, onCite) : cite(tx.text, onCite)}</p>;
    }
    default:
      // html and anything unknown: its source, as text.
      return <p key={key}>{"raw" in t ? t.raw : ""}</p>;
  }
}

function inline(tokens: Token[] | undefined, onCite?: (n: number) => void): ReactNode[] {
  return (tokens ?? []).map((t, i) => {
    switch (t.type) {
      case "strong":
        return <strong key={i}>{inline((t as Tokens.Strong).tokens, onCite)}</strong>;
      case "em":
        return <em key={i}>{inline((t as Tokens.Em).tokens, onCite)}</em>;
      case "del":
        return <del key={i}>{inline((t as Tokens.Del).tokens, onCite)}</del>;
      case "codespan":
        return <code key={i}>{(t as Tokens.Codespan).text}</code>;
      case "br":
        return <br key={i} />;
      case "link": {
        const l = t as Tokens.Link;
        const href = safeHref(l.href);
        const label = inline(l.tokens, onCite);
        return href ? (
          <a key={i} href={href} target="_blank" rel="noopener noreferrer nofollow">
            {label}
          </a>
        ) : (
          <span key={i}>{label}</span>
        );
      }
      case "image": {
        // Images from model output are not loaded; their description is shown.
        const im = t as Tokens.Image;
        return <span key={i}>{im.text}</span>;
      }
      case "text": {
        const tx = t as Tokens.Text;
        return tx.tokens ? <span key={i}>{inline(tx.tokens, onCite)}</span> : <span key={i}>{cite(tx.text, onCite)}</span>;
      }
      case "escape":
        return <span key={i}>{(t as Tokens.Escape).text}</span>;
      default:
        return <span key={i}>{"raw" in t ? t.raw : ""}</span>;
    }
  });
}

/** safeHref keeps http, https and mailto links; anything else is dropped. */
export function safeHref(href: string): string | null {
  try {
    const u = new URL(href, "https://invalid.invalid/");
    if (u.origin === "https://invalid.invalid") return null; // relative: no target outside the answer
    return ["http:", "https:", "mailto:"].includes(u.protocol) ? u.href : null;
  } catch {
    return null;
  }
}

const citeMarker = /\[(\d{1,2})\]/g;

/** cite turns [n] markers into buttons that open citation n. */
function cite(text: string, onCite?: (n: number) => void): ReactNode {
  if (!onCite || !text.includes("[")) return text;
  const out: ReactNode[] = [];
  let last = 0;
  for (const m of text.matchAll(citeMarker)) {
    const n = Number(m[1]);
    out.push(text.slice(last, m.index));
    out.push(
      <button key={m.index} type="button" className="cite" onClick={() => onCite(n)} aria-label={`Source ${n}`}>
        {n}
      </button>,
    );
    last = m.index! + m[0].length;
  }
  out.push(text.slice(last));
  return out;
}
