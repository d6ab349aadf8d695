"""`python -m serving`: the model server with tensorflow_model_server's flags."""

import sys

from serving.launch import main

sys.exit(main())
