"""Personal data at rest: envelope encryption of blobs and of the columns that hold personal data.

Master keys (configuration, ``at_rest``) wrap data keys (table ``data_keys``, AES key wrap);
data keys seal column values (:mod:`.sealed`, :mod:`.columns`) and blobs (:mod:`.stream`,
:mod:`.blobstore`), each with AES-256-GCM. ``rathaus-gateway keys rotate`` re-wraps the data
keys under the current master key and, on request, seals everything again under fresh data
keys (:mod:`.rotation`).
"""
