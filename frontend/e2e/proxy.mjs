// A TCP proxy between a node and its upstream, for the sync scenarios: the
// test cuts the network and restores it.
import net from "node:net";

/**
 * reset drops a connection as a cut network does (a TCP reset). A socket
 * still connecting is destroyed instead: Node 20 never closes the handle of
 * one reset then, and the test process spins at exit.
 */
function reset(s) {
  if (s.connecting || s.destroyed) s.destroy();
  else s.resetAndDestroy();
}

/**
 * startProxy forwards TCP connections to target until cut(): then it
 * resets every open connection and each new one, until restore().
 */
export async function startProxy(target) {
  const open = new Set();
  let cut = false;
  const server = net.createServer((inbound) => {
    if (cut) {
      reset(inbound);
      return;
    }
    const outbound = net.connect(Number(target.port), target.hostname);
    const pair = [inbound, outbound];
    const drop = () => {
      for (const s of pair) {
        s.destroy();
        open.delete(s);
      }
    };
    for (const s of pair) {
      open.add(s);
      s.on("error", drop);
      s.on("close", drop);
    }
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    cut() {
      cut = true;
      for (const s of [...open]) reset(s);
      open.clear();
    },
    restore() {
      cut = false;
    },
    /** close ends every connection (destroyed, not reset: see reset) and stops listening. */
    close() {
      cut = true;
      for (const s of [...open]) s.destroy();
      open.clear();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}
