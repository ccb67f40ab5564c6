// Stream output of secret: redacted, like its fmt formatter.
#include "supervisors/node/secret.hpp"

#include <ostream>

namespace superapp {

std::ostream& operator<<(std::ostream& out, const secret&) { return out << secret::redacted; }

}  // namespace superapp
