"""``kerasforge batch-predict``: score files in bulk with Apache Beam's ``RunInference``.

The job runs from an exported model alone (its SavedModel and model card), as the
embedded server does: no training code, no MLflow.

- :mod:`.plan`: which version folder, which signature, from the card and the input files;
- :mod:`.inputs`: files -> records (images, CSV rows, TFRecords, text lines), or dead letters;
- :mod:`.handler`: the ``ModelHandler`` that calls one named signature on a batch;
- :mod:`.pipeline`: the Beam graph, its outputs and the run's summary;
- :mod:`.cli`: the subcommand's parser and entry point.

Importing this package loads the standard library only.
"""
