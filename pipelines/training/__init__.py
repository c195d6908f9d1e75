"""Training: the trainer, callbacks, optimisers, schedules, regularisation, resume, strategy."""
