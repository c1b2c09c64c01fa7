"""The playground: train the ladder's network live in the browser and watch backpropagation.

``python -m stage4_analysis.playground`` serves a local web page (Streamlit, on 127.0.0.1 only;
``pip install -e ".[playground]"``): 2-D data sets and the MNIST sample, hidden layers, the
activation, the learning rate, batch size and momentum, and which rung trains the network; play /
pause / one step; loss and accuracy curves, the decision boundary, every hidden unit's output,
the plane of a 2-unit layer, the rungs' agreement on the next step, and the stage-1 computation
graph of one sample with every value and gradient.

Modules: :mod:`.data` (the data sets), :mod:`.session` (the training logic, no user interface),
:mod:`.views` (the pictures as arrays), :mod:`.agree` (the cross-rung check), :mod:`.page` (the
Streamlit page), :mod:`.browser` (serving the page and driving headless Chromium, for the
browser test and the screenshots). Leaves out: saving runs, more than two classes in the plane.
"""
