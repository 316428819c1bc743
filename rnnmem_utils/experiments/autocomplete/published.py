"""What the post published: Madsen (2019), "Visualizing memorization in RNNs",
Distill, and its repository distillpub/post--memorization-in-rnns.

Numbers only; the claims module decides what they are compared with.
"""

SOURCE = "Madsen 2019, Visualizing memorization in RNNs (Distill)"
SOURCE_DATA = (
    "distillpub/post--memorization-in-rnns, public/data/word-length-results.json"
)

# Test cross entropy (masked, nats) and accuracy (unmasked) per model (REFERENCE.md E5)
CROSS_ENTROPY = {"gru": 2.1170, "lstm": 2.1713, "nlstm": 2.4950}
ACCURACY = {"gru": 0.5201, "lstm": 0.5140, "nlstm": 0.4710}

# Parameters with 600 units and 16,386 classes
RECURRENT_PARAMETERS = {"gru": 4_323_600, "lstm": 5_764_800, "nlstm": 5_764_800}
DENSE_PARAMETERS = 9_847_986

# Top-1, top-2, top-3 accuracy after 0..21 characters of the word typed
# (the post's figure "accuracy given the number of characters seen")
# fmt: off
ACCURACY_BY_CHARS = {
    "gru": [
        [0.16498248, 0.38312256, 0.55599123, 0.65791966, 0.67800948, 0.67251485,
         0.65952480, 0.66509259, 0.65180205, 0.63019522, 0.59842905, 0.54884832,
         0.50026017, 0.41515715, 0.28442754, 0.15930599, 0.06661732, 0.03841229,
         0.03648069, 0, 0, 0],
        [0.22612278, 0.48656589, 0.64280205, 0.75038839, 0.78136693, 0.77645744,
         0.76103043, 0.75609476, 0.73492189, 0.70673868, 0.66853530, 0.61148481,
         0.55026538, 0.45579164, 0.32385909, 0.17074132, 0.07179867, 0.04737516,
         0.03648069, 0, 0, 0],
        [0.26498095, 0.53542919, 0.68649669, 0.79215218, 0.81991231, 0.81032927,
         0.79120300, 0.78005455, 0.75480772, 0.72199980, 0.68088782, 0.62016249,
         0.55661359, 0.46039362, 0.32606085, 0.17074132, 0.07179867, 0.04737516,
         0.03648069, 0, 0, 0],
    ],
    "lstm": [
        [0.16676726, 0.37626697, 0.53884136, 0.64082453, 0.66960745, 0.66965024,
         0.65944336, 0.66919065, 0.66066294, 0.64079170, 0.61261217, 0.56499345,
         0.51584086, 0.42573967, 0.29968077, 0.16692790, 0.06696100, 0.03939009,
         0.03655914, 0, 0, 0],
        [0.22837818, 0.47465125, 0.62246483, 0.73361585, 0.77401489, 0.77479948,
         0.76191445, 0.75831105, 0.73990962, 0.71110583, 0.67451670, 0.61702313,
         0.55588449, 0.45923250, 0.32521947, 0.17006270, 0.07137601, 0.04701398,
         0.03655914, 0, 0, 0],
        [0.26740458, 0.52154859, 0.66520832, 0.77777588, 0.81441127, 0.80911520,
         0.79160345, 0.78165789, 0.75716982, 0.72429096, 0.68277390, 0.62261021,
         0.55765036, 0.45991602, 0.32561852, 0.17006270, 0.07137601, 0.04701398,
         0.03655914, 0, 0, 0],
    ],
    "nlstm": [
        [0.13668242, 0.32615537, 0.49198948, 0.59108968, 0.62159890, 0.62604301,
         0.61940921, 0.63512016, 0.63063676, 0.61681965, 0.58698948, 0.54310746,
         0.49671943, 0.40992755, 0.28565713, 0.15995261, 0.06681514, 0.03811944,
         0.03663793, 0, 0, 0],
        [0.18943648, 0.42058772, 0.56994442, 0.68497327, 0.73673513, 0.74500432,
         0.73825817, 0.74067486, 0.72730366, 0.70272199, 0.66873726, 0.61258587,
         0.55228077, 0.45653025, 0.32326465, 0.17022117, 0.07201188, 0.04701398,
         0.03663793, 0, 0, 0],
        [0.22421564, 0.46745211, 0.61142488, 0.73238285, 0.78517667, 0.78923174,
         0.77793896, 0.77255975, 0.75223608, 0.72056462, 0.68063911, 0.62088136,
         0.55806082, 0.46005483, 0.32626525, 0.17061611, 0.07201188, 0.04701398,
         0.03663793, 0, 0, 0],
    ],
}
# fmt: on
MAX_CHARS_SEEN = 21  # the figure's 22 positions, 0..21

# The connectivity walkthrough: the probe sentence (198 characters with the
# leading space) and the output positions the post discusses.
PROBE_SENTENCE = (
    "context the formal study of grammar is an important part of education from "
    "a young age through advanced learning though the rules taught in schools are "
    "not a grammar in the sense most linguists use"
)
WALKTHROUGH = {
    106: "'le' of 'learning': the GRU draws on 'advanced' much earlier",
    159: "the second 'grammar', suggested after one character",
    141: "'schools': the LSTM draws on nearly the whole sentence, yet suggests wrongly",
}
# The word being typed at each walkthrough position, and the earlier word the
# post says the GRU draws on at 106
WALKTHROUGH_WORDS = {106: "learning", 159: "grammar", 141: "schools"}
CONTEXT_WORD = "advanced"
