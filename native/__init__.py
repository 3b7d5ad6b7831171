"""CPU probe and engine build profiles: make llama-cpp-python fit the CPU it runs on.

Standard library only: this package runs from the repo root with the system python3
before any virtualenv exists (and is installed as `livemind_native` later).

    probe.py      probe(cache_dir)             what SIMD features this CPU/kernel allow
    profiles.py   select_profile(probe_result) which CMAKE_ARGS fit (profiles.toml)
    build.py      python3 -m ...build          build, cache and install that wheel
    smoke.py      run_smoke(python, model)     prove the installed engine decodes here
    diagnosis.py  diagnose(probe, profile, system_info)   compare CPU, profile and engine

Submodules are imported directly (`from <package>.probe import probe`): importing them
here would make `python3 -m <package>.probe` warn that the module was imported twice.
"""
