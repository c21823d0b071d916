/** `npm run bench`: every benchmark section, with its reference measured in the same run. */
import { runWireBench } from './wire.ts';
import { runCoreBench } from './core.ts';
import { V8_DATAPATH_FLAGS, tuneV8ForDatapath } from '../src/daemon/v8tune.ts';

// Nothing has been optimised yet: the benchmarks run with the V8 settings tslvsd runs with.
tuneV8ForDatapath();

console.log(
  `tslvs benchmarks — node ${process.version}, ${process.arch}; V8 ${V8_DATAPATH_FLAGS.join(' ')} (as tslvsd)`,
);
runWireBench();
await runCoreBench();
