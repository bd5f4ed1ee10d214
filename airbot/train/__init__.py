"""Fine-tuning: a recipe turned into a trainer, the run store, background jobs, progress, probe, export.

The engine (runs inside the training process): ``sft_data`` (tokenized rows), ``builders`` (config ->
quantization/PEFT/SFT objects), ``model`` (loading the base, NF4 rounding, saving the adapter),
``step`` (the CPU answer-only loss and thread choice), ``progress`` (status/metrics/cancel files the
trainer writes), ``probe`` (the forgetting probe), ``raft`` (RAFT rows), ``finetune`` (one run).
The services (run in the app or CLI): ``runs`` (the run store), ``jobs`` (a training subprocess per
run), ``preflight`` (cost before Start), ``export`` (zips and merged models).

May import: the base, ``data``, ``knowledge`` (RAFT rows). The engine never imports the services.
"""
