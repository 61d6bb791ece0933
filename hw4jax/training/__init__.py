"""Question 3's training: settings, state, jitted data-parallel steps, the loop, checkpoints.

config       ``Config``/``get_config``: the run's settings, validated; its flags.
optimizers   optax optimizers with torch.optim's semantics and defaults.
state        ``TrainState`` and how a run's state starts.
steps        ``train_step``/``eval_step`` and their jitted, sharded forms.
sharding     the device mesh, the shardings, ``shard_batch``.
metrics      ``Totals``: step metrics summed over steps (mean loss, accuracy).
inputs       ``Input``: where a run's batches come from (CIFAR-10 by default).
loop         ``train_and_evaluate(config, workdir)`` and the per-epoch pieces
             (``train_epoch``, ``evaluate``) the optimizer study shares.
checkpoints  orbax checkpoints of a run; ``restore_state``.
reports      what a run writes and prints (metrics.jsonl, results.json, the pictures).
plots        the pictures: metrics.png, confusion_matrix.png, per_class_accuracy.png.
step_log     the curves within the epochs: steps.jsonl and TensorBoard scalars.
tensorboard  TensorBoard event files written and read with TensorFlow (imported on use).
progress     the progress display and Ctrl-C handling.
"""
