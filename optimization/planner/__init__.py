"""The parts of the cache planner that `optimization.cache_manager.CacheManager` puts together.

- `constants`: the wire format of a breakpoint, the priors and the sizes of the memory;
- `reading`: what a request is, read once per message and reused between requests;
- `learning`: how often tails and static prefixes were reused, learnt from the traffic;
- `decisions`: where the breakpoints go (the caller's, the rules', the automatic choice);
- `writing`: the request with its breakpoints, built without touching the caller's objects.
"""
