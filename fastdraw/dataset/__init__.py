"""A built dataset on disk: its layout (`layout`), TFRecord files (`tfrecord`), `verify`, and
the tf.data readers (`tfdata`)."""
