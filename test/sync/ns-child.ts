/**
 * Helper process for the netns sync test, run inside a namespace with
 * `ip netns exec NS node ns-child.js --tslvs-sync-child MODE IFNAME GROUP [HEX]`:
 *
 * - `recv IFNAME GROUP`: opens a backup socket on IFNAME, prints `ready`, then one line of hex
 *   per datagram received;
 * - `send IFNAME GROUP HEX`: opens a master socket on IFNAME, prints `ready ADDRESS`, then sends the message
 *   HEX every 100 ms (the receiver's group join may land after the first send) and prints `sent`
 *   after each.
 *
 * Both run until stdin closes. Errors go to stderr as `error <errno> <message>` with exit code 1.
 * Does nothing without the flag (the test runner executes every file under test/).
 */
import { SyncReceiver, SyncSender } from '../../src/sync/socket.ts';

export const SYNC_CHILD_FLAG = '--tslvs-sync-child';

async function main(mode: string, ifn: string, group: string, msgHex: string | undefined): Promise<void> {
  const stop = new Promise<void>((r) => {
    process.stdin.on('end', () => r());
    process.stdin.on('close', () => r());
    process.stdin.resume();
  });
  if (mode === 'recv') {
    const rx = await SyncReceiver.open({ mcastIfn: ifn, group }, 1472, (b, len) => {
      process.stdout.write(`${Buffer.from(b.buffer, b.byteOffset, len).toString('hex')}\n`);
    });
    process.stdout.write('ready\n');
    await stop;
    await rx.close();
    return;
  }
  const msg = Buffer.from(msgHex ?? '', 'hex');
  const tx = await SyncSender.open({ mcastIfn: ifn, group }, 1472);
  process.stdout.write(`ready ${tx.address().address}\n`);
  const timer = setInterval(() => {
    if (tx.send(msg, msg.length)) process.stdout.write('sent\n');
  }, 100);
  await stop;
  clearInterval(timer);
  await tx.close();
}

if (process.argv[2] === SYNC_CHILD_FLAG) {
  process.stdout.on('error', () => process.exit(0));
  main(process.argv[3], process.argv[4], process.argv[5], process.argv[6]).then(
    () => process.exit(0),
    (e: unknown) => {
      const err = e as { errno?: string; code?: string; message?: string };
      process.stderr.write(`error ${err.errno ?? err.code ?? '?'} ${err.message ?? String(e)}\n`);
      process.exit(1);
    },
  );
}
